"""The CDK app: AWS resources built from `shared.topology`, synthesized offline."""

import os

# jsii prints a banner on every start under Node 20 (end of life for jsii, still supported by the
# pinned CLI). Set before any `aws_cdk` import starts the jsii runtime.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
