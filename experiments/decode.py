"""`python experiments/decode.py --help`: the `decode` command (ppl_ssl/commands/decode.py, also installed as
`ppl-ssl decode`), kept runnable from a checkout."""
from ppl_ssl.commands.decode import *  # noqa: F401,F403
from ppl_ssl.commands.decode import main

if __name__ == "__main__":
    main()
