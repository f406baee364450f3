"""The pipeline's component ids: the names ML Metadata, the Kubeflow spec and the
progress lines know each component by."""

IMAGE_EXAMPLE_GEN = "ImageExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
TRANSFORM = "Transform"
WARM_START_MODEL = "WarmStartModel"
TRAINER = "Trainer"
LATEST_PUSHED_MODEL = "LatestPushedModel"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"
EVALUATION_REPORT = "EvaluationReport"
