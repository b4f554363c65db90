"""The ECR API's use cases. They speak ECR's shapes and raise EcrError in ECR's words."""
