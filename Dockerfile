# The image of every Airflow service in docker-compose.yaml (`docker compose build`).
#
# Airflow's official image, with the pipeline's runtime dependencies installed from the lock
# (requirements.lock: every transitive version, the same set `make` installs into .venv; the test
# tools of requirements-dev.lock stay out). Keep the tag equal to the apache-airflow pin of
# requirements.txt and the Python version equal to the lock's (`make lock`: --python-version 3.11).
FROM apache/airflow:3.3.2-python3.11

# As the image's airflow user (its default), as https://airflow.apache.org/docs/docker-stack/build.html says.
USER airflow
COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock

# The pipeline itself, so that the image runs without the source tree; docker-compose.yaml mounts the
# checkout's folders over these for development. sql/ and data_docs/ sit where the code looks by default
# (/opt/airflow/sql, $AIRFLOW_HOME/data_docs); compose also says so (RETENTION_SQL_DIR, RETENTION_DATA_DOCS_DIR).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 sql /opt/airflow/sql
