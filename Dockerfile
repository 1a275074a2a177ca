# Vigil on the official Airflow image. The lock file pins the same set CI tests.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/vigil
COPY --chown=airflow:root requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv pip install --no-cache -p "$(command -v python)" -r requirements.lock
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root transforms ./transforms
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root expectations ./expectations
RUN uv pip install --no-cache -p "$(command -v python)" --no-deps -e .
COPY --chown=airflow:root dags /opt/airflow/dags
