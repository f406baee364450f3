# The image every task of pipeline.yaml runs: TFX 1.16.0 with this project
# installed from the same lock as the local environment.
#   docker build -t tiedflow:0.1.0 .     (the tag `tiedflow compile` names by default)
#   make image                            (podman or docker; a stand-in base where
#                                          no registry is reachable: container/)
ARG TFX_IMAGE=gcr.io/tfx-oss-public/tfx:1.16.0
FROM ${TFX_IMAGE}

WORKDIR /opt/tiedflow
# The lock first: code edits then reuse this large layer. --no-deps installs
# exactly the locked versions over the image's own, without backtracking.
COPY requirements.lock ./
# container/image.sh mounts, for this step only, the host's CA bundle (HTTPS
# through a re-signing proxy) and the host's pip cache; neither stays in the
# image. The locked files are kept in a wheelhouse inside that cache, because
# pip's own HTTP cache stores nothing behind such a proxy: the install reads
# only the wheelhouse when it holds the whole lock (pip resolves everything
# before installing anything), else `pip download` fetches what is missing
# (it skips files already there) first. Without the mounts pip installs
# straight from the index.
RUN if [ -f /run/build/ca.crt ]; then export PIP_CERT=/run/build/ca.crt; fi \
 && export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
 && if [ -d /run/build/pip-cache ]; then \
      wheels=/run/build/pip-cache/tiedflow-wheelhouse \
      && offline="python -m pip install --no-deps --no-index --find-links $wheels -r requirements.lock" \
      && { $offline 2>/dev/null \
           || { python -m pip download --quiet --no-deps -r requirements.lock -d "$wheels" && $offline; }; }; \
    else python -m pip install --no-deps -r requirements.lock; fi

# KubeflowV2DagRunner drops environment variables set on a component's
# container (tensorflow/tfx#7765), so what the tasks need is set here:
# unbuffered logs for the KFP UI, quiet TensorFlow, headless plotting for the
# evaluation report, and writable caches when a pod runs as a non-root user.
ENV PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    KERAS_HOME=/tmp/keras

COPY pyproject.toml ./
COPY pipeline ./pipeline
COPY components ./components
COPY ingestion ./ingestion
COPY trainer ./trainer
COPY evaluation ./evaluation
COPY reporting ./reporting
COPY pushed_models ./pushed_models
COPY names ./names
RUN python -m pip install --no-cache-dir --no-deps --no-build-isolation --root-user-action=ignore . \
 && cd / && python -c "import pipeline.kubeflow.entrypoint, components.example_gen, trainer.task, \
evaluation.metrics, components.report"

# Tasks import the installed package, not these sources.
WORKDIR /
