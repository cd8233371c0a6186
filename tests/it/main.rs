//! The integration tests: one binary, every test against a real PostgreSQL loaded with our Koji
//! schema subset (`migrations-fixtures/`). Set `DATABASE_URL` to a role that may create
//! databases (`postgres://postgres@127.0.0.1:5432/postgres`); each test gets a database of its own.

mod support;

mod binary;
mod catalog;
mod catalog_churn;
mod custom;
mod exposition_formats;
mod first_hour;
mod history_pass;
mod hostile_data;
mod hostile_http;
mod hosts;
mod http;
mod layers;
mod ops;
mod outage;
mod read_only;
mod reliability;
mod report;
mod report_reads;
mod schema;
mod sim;
mod task_churn;
mod tasks;
mod tls;
mod web_hardening;
mod web_security;
