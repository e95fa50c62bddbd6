"""The CDK app: AWS resources built from `shared.topology`, synthesized offline."""
