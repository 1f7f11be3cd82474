# One image for every process of the platform; compose picks the process with `command:`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain domain
COPY commands commands
COPY projections projections
COPY queries queries
COPY adapters adapters
COPY web web
COPY scripts scripts
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 logistics
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER logistics
WORKDIR /home/logistics
EXPOSE 8000
ENTRYPOINT ["logistics"]
CMD ["command-api", "--host", "0.0.0.0", "--port", "8000"]
