"""The ``tradehooks`` command (a library, not a service): ``up`` (every service under
one supervisor), ``run SERVICE``, and the operator commands (register, rotate, resume,
replay, apikey, tenant, account, strategy...).
"""
