"""``cloud-broker enroll gcp``: each ceiling's service account and its bindings, as Terraform.

:mod:`.documents` builds the model (one entry per ceiling of the project); :mod:`.terraform`
renders it; :mod:`.fragment` is the matching broker.yaml entry.
"""
