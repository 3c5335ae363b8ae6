"""`python experiments/sample.py --help`: the `sample` command (ppl_ssl/commands/sample.py, also installed as
`ppl-ssl sample`), kept runnable from a checkout."""
from ppl_ssl.commands.sample import *  # noqa: F401,F403
from ppl_ssl.commands.sample import main

if __name__ == "__main__":
    main()
