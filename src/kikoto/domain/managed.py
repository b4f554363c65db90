"""AWS's managed policies for ECR, by their ARNs, with the actions AWS documents for each
(attach them as on AWS: `aws iam attach-user-policy --policy-arn
arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly`)."""

from __future__ import annotations

import json

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
READ = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
    "ecr:GetLifecyclePolicyPreview",
    "ecr:ListTagsForResource",
    "ecr:DescribeImageScanFindings",
]
PUSH = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]
PULL = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:BatchImportUpstreamImage",
]


def _allow(actions: list[str] | str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


AWS_MANAGED = {
    "AmazonEC2ContainerRegistryReadOnly": _allow(READ),
    "AmazonEC2ContainerRegistryPowerUser": _allow(READ + PUSH),
    "AmazonEC2ContainerRegistryFullAccess": _allow("ecr:*"),
    "AmazonEC2ContainerRegistryPullOnly": _allow(PULL),
}
