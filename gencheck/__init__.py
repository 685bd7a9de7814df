"""gencheck: how well does a character-level sequence model learn long-range structure?"""

__version__ = "0.1.0"
