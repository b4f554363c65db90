"""The ECR face: POST / with X-Amz-Target, AWS JSON 1.1, SigV4."""
