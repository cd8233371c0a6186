//! The statements a report sends, as values: a statement of `sql/` with the parameters it
//! binds. A read the reports own sends exactly the [`Statement`] it gives `--explain` (see
//! `plan`), so names and parameters cannot drift apart.

use sqlx::FromRow;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::QueryAs;

use super::window;
use crate::sql;

/// A parameter a statement binds.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i32),
    BigInt(i64),
    /// Unix seconds (printed with their UTC time too).
    Float(f64),
    Ints(Vec<i32>),
    Texts(Vec<String>),
}

/// One statement of `sql/` with the parameters it binds.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub family: &'static str,
    pub name: &'static str,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn new(family: &'static str, name: &'static str, params: Vec<Param>) -> Statement {
        Statement { family, name, params }
    }

    pub fn sql(&self) -> &'static str {
        sql::statement(self.family, self.name)
    }

    /// The statement as a query, its parameters bound: what the report sends.
    pub fn query_as<O>(&self) -> QueryAs<'_, Postgres, O, PgArguments>
    where
        O: for<'r> FromRow<'r, PgRow>,
    {
        self.bind(sqlx::query_as(self.sql()))
    }

    /// Binds the parameters, in order, to a query of this statement (or of EXPLAIN of it).
    pub fn bind<'q, O>(
        &'q self,
        mut query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::BigInt(value) => query.bind(*value),
                Param::Float(value) => query.bind(*value),
                Param::Ints(values) => query.bind(values.as_slice()),
                Param::Texts(values) => query.bind(values.as_slice()),
            };
        }
        query
    }

    /// The parameters as `--explain` prints them: `$1 = 7, $2 = {a,b}`.
    pub fn shown_params(&self) -> String {
        let list = |values: Vec<String>| format!("{{{}}}", values.join(","));
        self.params
            .iter()
            .enumerate()
            .map(|(index, param)| {
                let value = match param {
                    Param::Int(value) => value.to_string(),
                    Param::BigInt(value) => value.to_string(),
                    Param::Float(value) => format!("{value} ({})", window::format_iso(*value)),
                    Param::Ints(values) => list(values.iter().map(i32::to_string).collect()),
                    Param::Texts(values) => list(values.clone()),
                };
                format!("${} = {value}", index + 1)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a read does with one of its statements on this database.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Sent(Statement),
    /// A statement the read sends only on some data, with the reason it is not sent here.
    NotSent {
        family: &'static str,
        name: &'static str,
        why: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_shown_in_order() {
        let statement = Statement::new(
            "report",
            "builds_completed",
            vec![
                Param::Int(7),
                Param::BigInt(50_000),
                Param::Float(0.0),
                Param::Ints(vec![1, 2]),
                Param::Texts(vec!["build".into(), "newRepo".into()]),
            ],
        );
        assert_eq!(
            statement.shown_params(),
            "$1 = 7, $2 = 50000, $3 = 0 (1970-01-01T00:00:00Z), $4 = {1,2}, $5 = {build,newRepo}"
        );
    }
}
