"""``python -m repet_cli`` runs the ``repet`` command."""

from .cli import main

if __name__ == "__main__":
    main()
