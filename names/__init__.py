"""Names every layer shares, and nothing else: it imports nothing (the bottom layer).

Feature keys of the raw and transformed examples, the model's outputs and
signatures, files inside artifacts, and the custom properties one component
writes for another to read.
"""

# Raw examples, as ImageExampleGen writes them.
RAW_IMAGE_KEY = "pixels"  # int64, H*W*C values 0-255, row-major (IMAGE_SHAPE_PROPERTY)
LABEL_KEY = "label"  # int64 class id
INK_DENSITY_KEY = "ink_density"  # bytes: a slice feature computed from the pixels
# Raw features an evaluation can be sliced by (the `slice_features` setting).
SLICEABLE_FEATURES = (LABEL_KEY, INK_DENSITY_KEY)
# What the model reads after Transform.
IMAGE_KEY = "image_xf"  # float32, H*W*C values standardized per channel

# What ImageExampleGen learns from the data, written on its Examples artifact
# and read at run time by the executors downstream (Trainer, Evaluator, report),
# so that one compiled pipeline serves any data set.
CLASS_NAMES_PROPERTY = "class_names"  # JSON list of names; a class id is its index
IMAGE_SHAPE_PROPERTY = "image_shape"  # "H,W,C" of the raw `pixels` (row-major, 0-255)
SKIPPED_FILES_PROPERTY = "skipped_files"  # hidden and non-image files left out
# ImageExampleGen's summary beside the splits (ingestion.transforms.DataSummary).
INGESTION_SUMMARY_FILE = "ingestion.json"
DATA_PROPERTY = "data"  # the `data` setting the examples were read from
DATA_FINGERPRINT_PROPERTY = "data_fingerprint"  # of the data's files (names, sizes, times)
# int: the examples written to one split; "{split}" is the split's name ("train", "eval").
SPLIT_EXAMPLES_PROPERTY = "{split}_examples"

# The exported SavedModel.
EXAMPLES_SIGNATURE = "serving_default"  # serialized tf.Examples in (TFMA uses it)
IMAGES_SIGNATURE = "serving_images"  # uint8 images (N, H, W, C) in
PROBABILITIES_KEY = "probabilities"
CLASS_IDS_KEY = "class_ids"
LOGITS_KEY = "logits"
CLASSES_KEY = "classes"  # the predicted class's name (string)
# Settings that travel with a pushed model (JSON beside the SavedModel, in the
# folder TF Serving and the SavedModel loader leave alone).
PREDICTION_SETTINGS_FILE = "assets.extra/prediction.json"
ABSTAIN_BELOW_KEY = "abstain_below"
CLASS_NAMES_KEY = "class_names"  # in the same file: the names, index = class id

# How the Trainer logs an epoch; `tiedflow run` shows those lines as progress.
EPOCH_LOG_PREFIX = "tiedflow: epoch "

# LatestPushedModel's output Model: whether it holds a model, and which version.
HAS_MODEL_PROPERTY = "has_model"
PUSHED_VERSION_PROPERTY = "pushed_version"
# Why newer pushed models were not the baseline (other inputs or classes).
BASELINE_SKIPPED_PROPERTY = "baseline_skipped"

# The Evaluator's outputs: the candidate's overall eval accuracy (on the
# ModelEvaluation) and every failed threshold in words, a JSON list (on the
# ModelBlessing), so that run history reads them without loading TFMA.
EVAL_ACCURACY_PROPERTY = "overall_accuracy"
FAILED_THRESHOLDS_PROPERTY = "failed_thresholds"

# What `tiedflow run` records on its pipeline-run context when it ends: its exit
# status and, when it failed, the error's first line (what the terminal showed).
EXIT_STATUS_PROPERTY = "exit_status"
ERROR_PROPERTY = "error"

# SchemaGen's output Schema: the curated schema file it was loaded from ("": inferred).
SCHEMA_FILE_PROPERTY = "schema_file"

# The EvaluationReport's artifact type: the schema title the Kubeflow Pipelines
# UI renders as a web page (the HTML file at the artifact's URI).
HTML_REPORT_TYPE = "system.HTML"
