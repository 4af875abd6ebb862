"""What every family's ``cloud-broker enroll`` shares: an HCL writer and writing the files.

Each family builds its documents once (a Python model) and renders them to the formats the
operator deploys; this package holds only the cloud-neutral rendering and file handling.
"""
