# OctoPrint with its virtual printer, configured as cofab's devstack does (docs/octoprint.md).
FROM python:3.11-slim-bookworm
RUN pip install --no-cache-dir 'octoprint>=1.11,<1.12'
COPY docker/octoprint-config.yaml /octoprint/config.yaml
EXPOSE 5000
CMD ["sh", "-c", "octoprint --basedir /octoprint user add admin --password admin --admin || true; \
     exec octoprint --basedir /octoprint serve --iknowwhatimdoing --host 0.0.0.0 --port 5000"]
