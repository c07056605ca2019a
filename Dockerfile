# perceptron-mock: a slim image running the mock as a non-root user.
#   docker build -t perceptron-mock .
#   docker run -p 8000:8000 -v "$PWD/fixtures:/fixtures:ro" perceptron-mock
# Settings come from PERCEPTRON_MOCK_* environment variables (see docs/settings.md).
# scripts/containers.sh builds and runs it in CI (hadolint, non-root user, HEALTHCHECK, compose stack).

FROM python:3.11-slim AS build
WORKDIR /src
# The whole context (.dockerignore keeps tests, docs and caches out), so that what the wheel packs is
# decided by pyproject.toml alone, not by a list of paths repeated here.
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# Numeric ids: USER 10001 is non-root even where the image has no passwd entry to look up. /files is
# for uploads in a named volume (docker-compose.yml): a new volume takes its owner from here.
RUN groupadd --gid 10001 mock && useradd --uid 10001 --gid 10001 --create-home mock \
    && mkdir /files && chown 10001:10001 /files
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
COPY fixtures /fixtures
ENV PERCEPTRON_MOCK_HOST=0.0.0.0 \
    PERCEPTRON_MOCK_PORT=8000 \
    PERCEPTRON_MOCK_FIXTURES_DIR=/fixtures \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["perceptron-mock-healthcheck"]
CMD ["perceptron-mock"]
