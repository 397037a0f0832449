//! The options a page passes: with a poster `{ year }`, with a model `{ warmUp }`.

use wasm_bindgen::JsValue;

use onesheet::year::Year;

/// The release year in `options` (`{ year: 1958 }` or `{ year: "1958" }`), or `None` when the
/// options, or their year, are absent, `null` or empty: the year is never required.
pub(super) fn year(options: &JsValue) -> Result<Option<Year>, String> {
    let Some(value) = field(options, "year", "{ year: 1958 }")? else {
        return Ok(None);
    };
    if let Some(text) = value.as_string() {
        if text.trim().is_empty() {
            return Ok(None);
        }
        return text.parse::<Year>().map(Some).map_err(|e| e.to_string());
    }
    match value.as_f64() {
        Some(number) if number.fract() == 0.0 && number.abs() < 1e15 => Year::new(number as i64)
            .map(Some)
            .map_err(|e| e.to_string()),
        Some(number) => Err(format!(
            "{number} is not a year (expected a whole number such as 1958)"
        )),
        None => Err("the options' year must be a number such as 1958".into()),
    }
}

/// Whether `create` should warm the model up (`{ warmUp: false }` leaves it to the page, which
/// calls `warmUp()` when it is idle); `true` when the options or the field are absent.
pub(super) fn warm_up(options: &JsValue) -> Result<bool, String> {
    let Some(value) = field(options, "warmUp", "{ warmUp: false }")? else {
        return Ok(true);
    };
    value
        .as_bool()
        .ok_or_else(|| "the options' warmUp must be true or false".into())
}

/// `options[name]`, or `None` when the options or the field are absent or `null`; an options
/// value that is not an object is refused with `example` of one.
fn field(options: &JsValue, name: &str, example: &str) -> Result<Option<JsValue>, String> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(format!("the options must be an object such as {example}"));
    }
    let value = js_sys::Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| format!("the options' {name} could not be read"))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}
