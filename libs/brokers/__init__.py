"""Broker adapters (a library, not a service): the paper simulator and Alpaca behind
one interface (``base.py``). Only the executor places, cancels or resizes orders;
other services get a read-only view (``Brokers.reader_for``).

Owns: the paper accounts (KV ``th_paper_accounts``) and the last market prices
(KV ``th_market_prices``).
"""
