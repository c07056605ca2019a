# perceptron-mock: a slim image running the mock as a non-root user.
#   docker build -t perceptron-mock .
#   docker run -p 8000:8000 -v $PWD/fixtures:/fixtures:ro perceptron-mock
# Settings come from PERCEPTRON_MOCK_* environment variables (see README "Settings").

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 mock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY fixtures /fixtures
ENV PERCEPTRON_MOCK_HOST=0.0.0.0 \
    PERCEPTRON_MOCK_PORT=8000 \
    PERCEPTRON_MOCK_FIXTURES_DIR=/fixtures \
    PYTHONUNBUFFERED=1
USER mock
EXPOSE 8000
VOLUME ["/fixtures"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["perceptron-mock-healthcheck"]
CMD ["perceptron-mock"]
