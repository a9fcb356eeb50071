"""Shared trading domain: pure rules more than one service needs."""
