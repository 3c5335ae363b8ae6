"""Reproducing the papers: suites of ordinary runs at a stated budget, reported beside the papers' numbers.

    ppl-ssl reproduce --suite table1 --budget cpu --seeds 3
"""
from ppl_ssl.reproduction.budgets import BUDGETS, Budget, budget
from ppl_ssl.reproduction.paper import PaperTable, PaperValue, paper_tables, paper_value
from ppl_ssl.reproduction.reproduce import reproduce
from ppl_ssl.reproduction.suites import SUITES, RunSpec, Suite, suite

__all__ = ["BUDGETS", "Budget", "PaperTable", "PaperValue", "RunSpec", "SUITES", "Suite", "budget", "paper_tables",
           "paper_value", "reproduce", "suite"]
