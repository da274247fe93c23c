"""AWS: a student's own instance, baked AMIs and a class fleet, through boto3."""
