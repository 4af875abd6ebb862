"""``cloud-broker enroll aws``: the role the broker assumes, as CloudFormation and Terraform.

One model (:mod:`.documents`) holds the role's trust policy, permissions boundary, inline
policies and session limit; :mod:`.cloudformation` and :mod:`.terraform` render it, so the
policy documents of both outputs are the same objects. :mod:`.spec` turns the operator's
options (and broker.yaml's ceilings for the account) into that model's input and refuses
anything unclear before a file is written; :mod:`.fragment` is the matching ``aws_accounts``
entry.
"""
