//! A number as written, compared by its value: what tells a literal a
//! double would keep (`0.10`, `1e-1`) from one it would change
//! (`1.000000000000000000001`, `1e-400`).

/// A decimal literal's value as (negative, significant digits, exponent of
/// the first digit); zero is (false, "", 0) whatever its sign or form.
pub fn decimal(literal: &str) -> (bool, String, i64) {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int_part.chars().chain(frac_part.chars()).collect();
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return (false, String::new(), 0);
    }
    // The first significant digit's power of ten.
    // Saturating: serde_json takes exponents past i64 (as zero or
    // infinity), and this must not overflow on them.
    let first = (int_part.len() as i64 - 1 - leading as i64).saturating_add(exponent);
    (negative, significant.to_string(), first)
}

/// Whether `literal` is a decimal a double holds exactly: its value is its
/// double's shortest form's (`0.1`, `2.5e-3`; not `1e-400`, read as 0, nor
/// `1.0000000000000000001`, read as 1).
pub fn double_holds(literal: &str, parsed: f64) -> bool {
    let shortest = serde_json::Number::from_f64(parsed).map(|n| n.to_string()).unwrap_or_default();
    // Most literals are their shortest form: no digits to compare then
    // (the step decoder asks for every long number it reads).
    literal == shortest || decimal(literal) == decimal(&shortest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(decimal("0.10"), decimal("1e-1"));
        assert_eq!(decimal(".5"), decimal("0.5"));
        assert_ne!(decimal("1.000000000000000000001"), decimal("1.0"));
        assert!(double_holds("2.5e-3", 0.0025) && double_holds("0", 0.0) && double_holds("100", 100.0));
        assert!(!double_holds("1e-400", 0.0) && !double_holds("1.0000000000000000001", 1.0) && !double_holds("3e-324", 5e-324));
    }
}
