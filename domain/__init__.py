"""Shared trading domain: pure rules more than one service needs (no I/O).

``symbols`` (asset class and broker spelling of a symbol), ``ledger`` (cash,
positions, average price, realised P&L), ``protection`` (protective legs that follow
the position).
"""
