//! Placeholder.
pub async fn run(_url: &str, _rate: f64, _duration: Option<f64>) -> Result<(), crate::Failure> {
    Ok(())
}
