# Dockerfile — sessiongate on Debian bookworm: build and test with the README's
# test command, then a slim runtime image with only the runtime libraries.
#
#   docker build -t sessiongate .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/my-sessiongate.yaml:/etc/sessiongate/sessiongate.yaml:ro" \
#     -v "$PWD/flask_secret_key:/run/secrets/flask_secret_key:ro" sessiongate
#
# The shipped config is conf/sessiongate.yaml; mount your own over it, or pass
# the ${NAME} values it references with -e. In a container, listen on
# 0.0.0.0:8080 (127.0.0.1 is the container's own loopback). The secret comes
# from /run/secrets/flask_secret_key (Docker/Compose secrets) or from
# SESSIONGATE_SECRET_FILE. conf/docker-compose.yaml runs the whole demo.
# Stop with a grace period above the drain deadline: docker stop -t 30.

# --- build: exactly what CI runs (installs packages, builds, runs every test) --
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN bash tests/all.sh
RUN install -D -m 0755 build/daemon/sessiongate /out/sessiongate \
 && strip --strip-unneeded /out/sessiongate

# --- demo-apps: the demo Flask and FastAPI apps, for conf/docker-compose.yaml --
FROM debian:bookworm-slim AS demo-apps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-flask python3-flask-login python3-fastapi python3-uvicorn \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin demo
COPY tests/demo/flask_app.py tests/demo/api_app.py /app/
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER demo
# The compose file picks the app: flask_app.py, or uvicorn api_app:app.
CMD ["python3", "flask_app.py"]

# --- runtime: the image to deploy (the default target) ------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-core-2.1-7 libevent-pthreads-2.1-7 libssl3 zlib1g libyaml-0-2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin sessiongate
COPY --from=build /out/sessiongate /usr/local/bin/sessiongate
COPY conf/sessiongate.yaml /etc/sessiongate/sessiongate.yaml
# Fails the build if a runtime library is missing from the list above.
RUN ["/usr/local/bin/sessiongate", "--version"]
ENV SESSIONGATE_SECRET_FILE=/run/secrets/flask_secret_key
USER sessiongate:sessiongate
EXPOSE 8080
# The admin listener's liveness endpoint, asked with bash's /dev/tcp: no curl
# (and its dozen libraries) in the image just for this.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sessiongate"]
CMD ["-c", "/etc/sessiongate/sessiongate.yaml"]
