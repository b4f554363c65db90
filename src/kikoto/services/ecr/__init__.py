"""The ECR API's use cases. They raise typed domain errors with ECR's wording;
the ECR face (http/ecr/errors.py) gives them ECR's exception names."""
