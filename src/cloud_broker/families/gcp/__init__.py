"""The GCP family: IAM permissions on full resource names, minted as downscoped access tokens."""
