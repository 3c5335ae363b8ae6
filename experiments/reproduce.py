"""`python experiments/reproduce.py --help`: the `reproduce` command (ppl_ssl/commands/reproduce.py, also installed as
`ppl-ssl reproduce`), kept runnable from a checkout."""
from ppl_ssl.commands.reproduce import *  # noqa: F401,F403
from ppl_ssl.commands.reproduce import main

if __name__ == "__main__":
    main()
