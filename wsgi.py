"""gunicorn serves ``wsgi:app``; each worker builds its own app after fork."""

from service.app import create_app

app = create_app()
