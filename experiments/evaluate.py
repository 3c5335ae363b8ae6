"""`python experiments/evaluate.py --help`: the `evaluate` command (ppl_ssl/commands/evaluate.py, also installed as
`ppl-ssl evaluate`), kept runnable from a checkout."""
from ppl_ssl.commands.evaluate import *  # noqa: F401,F403
from ppl_ssl.commands.evaluate import main

if __name__ == "__main__":
    main()
