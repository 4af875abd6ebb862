"""``python -m cloud_broker`` is the ``cloud-broker`` command."""

from cloud_broker.cli.main import app

app()
