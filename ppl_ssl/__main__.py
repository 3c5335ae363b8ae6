"""python -m ppl_ssl COMMAND ...: the same as the installed `ppl-ssl` command."""
from ppl_ssl.commands import main

main()
