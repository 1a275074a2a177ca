# Vigil on the official Airflow image: the exact package set CI tests (requirements.lock), the
# project installed into the image, the DAGs in the image's DAG folder. Built by docker-compose.yml
# (`docker compose build`); every Airflow service of the compose file runs this image.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/vigil

# Dependencies first (their layer is reused until the lock changes). "apache-airflow==$AIRFLOW_VERSION"
# (the base image's version) makes the build fail at once should the lock ever disagree with the image.
COPY --chown=airflow:root requirements.lock ./
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r requirements.lock

# The project: the `vigil` package (include/vigil/), the source mappings (transforms/), the dbt project, the GX suites, the
# least-privilege migrations (include/vigil/store/migrations/) and the example channel configurations.
COPY --chown=airflow:root pyproject.toml README.md ./
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root transforms ./transforms
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root expectations ./expectations
COPY --chown=airflow:root config ./config
RUN pip install --no-cache-dir --no-deps -e . \
 && chmod -R g+rwX /opt/vigil/dbt_project \
 && python -c "import vigil.pipeline, vigil.store.roles; print('vigil importable')"
COPY --chown=airflow:root dags /opt/airflow/dags

ENV VIGIL_DBT_PROJECT_DIR=/opt/vigil/dbt_project
