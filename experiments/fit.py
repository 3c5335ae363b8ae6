"""`python experiments/fit.py --help`: the `fit` command (ppl_ssl/commands/fit.py, also installed as
`ppl-ssl fit`), kept runnable from a checkout."""
from ppl_ssl.commands.fit import *  # noqa: F401,F403
from ppl_ssl.commands.fit import main

if __name__ == "__main__":
    main()
