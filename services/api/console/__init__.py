"""The web console: the built single-page app (``console/`` → ``static/``), served at
``/`` of the app that serves the operator API. The sources live in ``console/`` at the
top of the repository; ``make console`` (and ``make run``) builds them into
``static/``, which the wheel ships as package data."""
