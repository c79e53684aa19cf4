"""The web page of ``polyfind serve``: the application (``app.py``), its HTML shells
(``templates/``) and its script and style (``static/``), shipped inside the package."""
