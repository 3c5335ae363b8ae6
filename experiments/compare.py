"""`python experiments/compare.py --help`: the `compare` command (ppl_ssl/commands/compare.py, also installed as
`ppl-ssl compare`), kept runnable from a checkout."""
from ppl_ssl.commands.compare import *  # noqa: F401,F403
from ppl_ssl.commands.compare import main

if __name__ == "__main__":
    main()
