//! The data and the OData subset the mock answers: `GET {Entity}` with `$top`, `$skip`,
//! `$select` and `$filter` on equality (`Field eq literal`, joined with `and`), `GET
//! {Entity}({id})`, `POST {Entity}`, `PATCH` and `DELETE {Entity}({id})`.
//!
//! Answers are OData JSON as ERP.net writes it: a collection is
//! `{"@odata.context": "{root}$metadata#{Entity}", "value": [...]}`, multi-language strings are
//! objects by language (`{"EN": "…"}`), and keys are bare GUIDs
//! (`General_Contacts_Parties(6f8f0c1e-…)`).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::keys::random_hex;

/// One entity: its attributes by name.
pub(crate) type Record = Map<String, Value>;

/// What a request to the data asks for, by its path below the OData root.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// The root itself: the service document.
    ServiceDocument,
    /// `{Entity}`
    Collection(&'a str),
    /// `{Entity}({id})`
    Entity(&'a str, &'a str),
}

impl<'a> Target<'a> {
    /// The target `rest` (the path below the root, without leading `/`) names.
    pub(crate) fn parse(rest: &'a str) -> Option<Target<'a>> {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Some(Target::ServiceDocument);
        }
        if rest.contains('/') {
            return None;
        }
        match rest.split_once('(') {
            None => Some(Target::Collection(rest)),
            Some((entity, key)) => {
                let key = key.strip_suffix(')')?;
                Some(Target::Entity(entity, key.trim_matches('\'')))
            }
        }
    }
}

/// A refusal of the data layer: its status and the error body's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ODataError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ODataError {
    fn new(status: StatusCode, message: impl Into<String>) -> ODataError {
        ODataError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ODataError {
        ODataError::new(StatusCode::BAD_REQUEST, message)
    }
}

/// The query options of a collection request.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Query {
    top: Option<usize>,
    skip: usize,
    filter: Vec<(String, Literal)>,
    select: Option<Vec<String>>,
}

/// A literal of a `$filter`.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    /// A bare GUID, compared without regard to case.
    Guid(String),
}

impl Literal {
    /// Whether an attribute's value equals this literal; a multi-language string matches
    /// when any of its languages does.
    fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Literal::Null, None | Some(Value::Null)) => true,
            (Literal::Text(text), Some(Value::String(value))) => value == text,
            (Literal::Text(text), Some(Value::Object(languages))) => {
                languages.values().any(|value| value.as_str() == Some(text))
            }
            (Literal::Guid(guid), Some(Value::String(value))) => value.eq_ignore_ascii_case(guid),
            (Literal::Number(number), Some(Value::Number(value))) => {
                value.as_f64() == Some(*number)
            }
            (Literal::Bool(flag), Some(Value::Bool(value))) => value == flag,
            _ => false,
        }
    }

    fn parse(text: &str) -> Result<Literal, ODataError> {
        match text {
            "true" => return Ok(Literal::Bool(true)),
            "false" => return Ok(Literal::Bool(false)),
            "null" => return Ok(Literal::Null),
            _ => {}
        }
        if is_guid(text) {
            return Ok(Literal::Guid(text.to_owned()));
        }
        match text.parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(Literal::Number(number)),
            _ => Err(ODataError::bad_request(format!(
                "`{text}` is not a literal the mock understands: use 'text', a number, true, \
                 false, null or a GUID"
            ))),
        }
    }
}

impl Query {
    /// Parses the query string of a request (`None`: no query).
    pub(crate) fn parse(query: Option<&str>) -> Result<Query, ODataError> {
        let mut parsed = Query::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "$top" => parsed.top = Some(count("$top", &value)?),
                "$skip" => parsed.skip = count("$skip", &value)?,
                "$filter" => parsed.filter = parse_filter(&value)?,
                "$select" => {
                    let fields: Vec<String> = value
                        .split(',')
                        .map(|field| field.trim().to_owned())
                        .collect();
                    if fields.iter().any(String::is_empty) {
                        return Err(ODataError::bad_request("$select names an empty property"));
                    }
                    parsed.select = Some(fields);
                }
                option if option.starts_with('$') => {
                    return Err(ODataError::new(
                        StatusCode::NOT_IMPLEMENTED,
                        format!(
                            "The mock Domain API does not implement `{option}`; it supports \
                             $top, $skip, $select and $filter on equality."
                        ),
                    ));
                }
                // Other parameters (custom ones, such as ERP.net's context parameters) are
                // ignored, as OData services do.
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn count(option: &str, value: &str) -> Result<usize, ODataError> {
    value.trim().parse().map_err(|_| {
        ODataError::bad_request(format!(
            "{option} must be a non-negative integer, not `{value}`"
        ))
    })
}

/// `Field eq literal [and Field eq literal]…`
fn parse_filter(text: &str) -> Result<Vec<(String, Literal)>, ODataError> {
    let unsupported = || {
        ODataError::bad_request(format!(
            "The mock Domain API understands only `Property eq literal` joined with `and` in \
             $filter, not `{text}`"
        ))
    };
    let mut clauses = Vec::new();
    let mut rest = text.trim();
    loop {
        let (field, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(unsupported)?;
        let after = after.trim_start();
        let after = after.strip_prefix("eq").ok_or_else(unsupported)?;
        if !after.starts_with(char::is_whitespace) {
            return Err(unsupported());
        }
        let after = after.trim_start();
        let (literal, after) = if let Some(quoted) = after.strip_prefix('\'') {
            let (text, after) = quoted_text(quoted).ok_or_else(unsupported)?;
            (Literal::Text(text), after)
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (Literal::parse(&after[..end])?, &after[end..])
        };
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(unsupported());
        }
        clauses.push((field.to_owned(), literal));
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(clauses);
        }
        rest = after
            .strip_prefix("and")
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .ok_or_else(unsupported)?
            .trim_start();
    }
}

/// The text of a quoted literal (`''` is a quote) and what follows its closing quote.
fn quoted_text(quoted: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '\'' {
            text.push(c);
        } else if chars.peek().is_some_and(|&(_, next)| next == '\'') {
            chars.next();
            text.push('\'');
        } else {
            return Some((text, &quoted[at + 1..]));
        }
    }
    None
}

fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A new GUID, lower-case as ERP.net writes them.
pub(crate) fn new_guid() -> String {
    let hex = random_hex(16).to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The entity sets and their records.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntitySets {
    sets: BTreeMap<String, Vec<Record>>,
}

impl EntitySets {
    pub(crate) fn insert(&mut self, name: String, records: Vec<Record>) {
        self.sets.insert(name, records);
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.sets.keys().cloned().collect()
    }

    pub(crate) fn records(&self, name: &str) -> Option<&[Record]> {
        self.sets.get(name).map(Vec::as_slice)
    }

    /// `{"@odata.context": "{root}$metadata", "value": [{name, kind, url}…]}`
    pub(crate) fn service_document(&self, root: &str) -> Value {
        let sets: Vec<Value> = self
            .sets
            .keys()
            .map(|name| json!({ "name": name, "kind": "EntitySet", "url": name }))
            .collect();
        json!({ "@odata.context": format!("{root}$metadata"), "value": sets })
    }

    /// The answer to `GET {root}{name}?{query}`.
    pub(crate) fn list(&self, root: &str, name: &str, query: &Query) -> Result<Value, ODataError> {
        let records = self.set(name)?;
        let known = properties(records);
        let unknown = query
            .filter
            .iter()
            .map(|(field, _)| field)
            .chain(query.select.iter().flatten())
            .find(|field| !known.contains(field.as_str()));
        if let Some(field) = unknown {
            return Err(ODataError::bad_request(format!(
                "Could not find a property named '{field}' on the entity set '{name}'."
            )));
        }
        let value: Vec<Value> = records
            .iter()
            .filter(|record| {
                query
                    .filter
                    .iter()
                    .all(|(field, literal)| literal.matches(record.get(field)))
            })
            .skip(query.skip)
            .take(query.top.unwrap_or(usize::MAX))
            .map(|record| Value::Object(select(record, query.select.as_deref())))
            .collect();
        let selected = query
            .select
            .as_ref()
            .map(|fields| format!("({})", fields.join(",")))
            .unwrap_or_default();
        Ok(json!({
            "@odata.context": format!("{root}$metadata#{name}{selected}"),
            "value": value,
        }))
    }

    /// The answer to `GET {root}{name}({id})`.
    pub(crate) fn get(&self, root: &str, name: &str, id: &str) -> Result<Value, ODataError> {
        let record = self.find(name, id)?;
        Ok(with_context(root, name, record.clone()))
    }

    /// `POST {root}{name}`: stores `body` with a new `Id` (or the one it names, if unused) and
    /// returns the stored record.
    pub(crate) fn create(
        &mut self,
        root: &str,
        name: &str,
        body: Value,
    ) -> Result<(String, Value), ODataError> {
        let Value::Object(mut record) = body else {
            return Err(ODataError::bad_request("The body must be a JSON object."));
        };
        let records = self.set_mut(name)?;
        let id = match record.get("Id").and_then(Value::as_str) {
            Some(id) if !is_guid(id) => {
                return Err(ODataError::bad_request(format!("`{id}` is not a GUID.")));
            }
            Some(id) if records.iter().any(|known| same_id(known, id)) => {
                return Err(ODataError::new(
                    StatusCode::CONFLICT,
                    format!("An entity with Id {id} already exists in '{name}'."),
                ));
            }
            Some(id) => id.to_owned(),
            None => new_guid(),
        };
        record.insert("Id".to_owned(), Value::String(id.clone()));
        records.push(record.clone());
        Ok((id, with_context(root, name, record)))
    }

    /// `PATCH {root}{name}({id})`: merges `body` into the record; `Id` cannot change.
    pub(crate) fn update(&mut self, name: &str, id: &str, body: Value) -> Result<(), ODataError> {
        let Value::Object(changes) = body else {
            return Err(ODataError::bad_request("The body must be a JSON object."));
        };
        if changes
            .get("Id")
            .is_some_and(|new| new.as_str().is_none_or(|new| !new.eq_ignore_ascii_case(id)))
        {
            return Err(ODataError::bad_request(
                "The Id of an entity cannot change.",
            ));
        }
        let record = self
            .set_mut(name)?
            .iter_mut()
            .find(|record| same_id(record, id))
            .ok_or_else(|| not_found(name, id))?;
        record.extend(changes);
        Ok(())
    }

    /// `DELETE {root}{name}({id})`
    pub(crate) fn delete(&mut self, name: &str, id: &str) -> Result<(), ODataError> {
        let records = self.set_mut(name)?;
        let before = records.len();
        records.retain(|record| !same_id(record, id));
        if records.len() == before {
            return Err(not_found(name, id));
        }
        Ok(())
    }

    fn set(&self, name: &str) -> Result<&Vec<Record>, ODataError> {
        self.sets.get(name).ok_or_else(|| no_segment(name))
    }

    fn set_mut(&mut self, name: &str) -> Result<&mut Vec<Record>, ODataError> {
        self.sets.get_mut(name).ok_or_else(|| no_segment(name))
    }

    fn find(&self, name: &str, id: &str) -> Result<&Record, ODataError> {
        self.set(name)?
            .iter()
            .find(|record| same_id(record, id))
            .ok_or_else(|| not_found(name, id))
    }
}

fn same_id(record: &Record, id: &str) -> bool {
    record
        .get("Id")
        .and_then(Value::as_str)
        .is_some_and(|known| known.eq_ignore_ascii_case(id))
}

fn no_segment(name: &str) -> ODataError {
    ODataError::new(
        StatusCode::NOT_FOUND,
        format!("Resource not found for the segment '{name}'."),
    )
}

fn not_found(name: &str, id: &str) -> ODataError {
    ODataError::new(
        StatusCode::NOT_FOUND,
        format!("No entity with Id {id} in '{name}'."),
    )
}

/// Every property name that any record of a set has.
fn properties(records: &[Record]) -> BTreeSet<&str> {
    records
        .iter()
        .flat_map(|record| record.keys().map(String::as_str))
        .collect()
}

fn select(record: &Record, fields: Option<&[String]>) -> Record {
    match fields {
        None => record.clone(),
        Some(fields) => fields
            .iter()
            .filter_map(|field| {
                record
                    .get(field)
                    .map(|value| (field.clone(), value.clone()))
            })
            .collect(),
    }
}

fn with_context(root: &str, name: &str, record: Record) -> Value {
    let mut answer = Record::new();
    answer.insert(
        "@odata.context".to_owned(),
        Value::String(format!("{root}$metadata#{name}/$entity")),
    );
    answer.extend(record);
    Value::Object(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets() -> EntitySets {
        let mut sets = EntitySets::default();
        let records = [
            json!({"Id": "00000000-0000-0000-0000-000000000001", "PartyCode": "0001",
                   "PartyName": {"EN": "Mock Ltd", "BG": "Мок ООД"}, "IsActive": true, "Rank": 1}),
            json!({"Id": "00000000-0000-0000-0000-000000000002", "PartyCode": "O'Brien",
                   "PartyName": {"EN": "Ann"}, "IsActive": false, "Rank": 2}),
        ];
        sets.insert(
            "Parties".to_owned(),
            records
                .into_iter()
                .filter_map(|record| record.as_object().cloned())
                .collect(),
        );
        sets
    }

    fn list(query: &str) -> Result<Value, ODataError> {
        sets().list("http://x/", "Parties", &Query::parse(Some(query))?)
    }

    fn codes(answer: &Value) -> Vec<&str> {
        answer["value"]
            .as_array()
            .expect("value")
            .iter()
            .filter_map(|record| record["PartyCode"].as_str())
            .collect()
    }

    #[test]
    fn paths_name_targets() {
        assert_eq!(Target::parse(""), Some(Target::ServiceDocument));
        assert_eq!(
            Target::parse("Parties"),
            Some(Target::Collection("Parties"))
        );
        assert_eq!(
            Target::parse("Parties(ab)"),
            Some(Target::Entity("Parties", "ab"))
        );
        assert_eq!(
            Target::parse("Parties('ab')"),
            Some(Target::Entity("Parties", "ab"))
        );
        assert_eq!(Target::parse("Parties(ab"), None);
        assert_eq!(Target::parse("Parties/x"), None);
    }

    #[test]
    fn top_skip_select_and_filter() {
        let all = list("").expect("answer");
        assert_eq!(all["@odata.context"], "http://x/$metadata#Parties");
        assert_eq!(codes(&all), ["0001", "O'Brien"]);
        assert_eq!(codes(&list("$top=1").expect("answer")), ["0001"]);
        assert_eq!(codes(&list("$skip=1&$top=5").expect("answer")), ["O'Brien"]);
        let selected = list("$select=PartyCode,Rank&$top=1").expect("answer");
        assert_eq!(
            selected["@odata.context"],
            "http://x/$metadata#Parties(PartyCode,Rank)"
        );
        assert_eq!(
            selected["value"][0],
            json!({"PartyCode": "0001", "Rank": 1})
        );
        for (filter, expected) in [
            ("PartyCode eq 'O''Brien'", vec!["O'Brien"]),
            ("PartyName eq 'Мок ООД'", vec!["0001"]),
            ("IsActive eq true and Rank eq 1", vec!["0001"]),
            ("Rank eq 2.0", vec!["O'Brien"]),
            (
                "Id eq 00000000-0000-0000-0000-000000000002",
                vec!["O'Brien"],
            ),
            ("IsActive eq false and Rank eq 1", vec![]),
        ] {
            let query = format!(
                "$filter={}",
                form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
            );
            assert_eq!(codes(&list(&query).expect(filter)), expected, "{filter}");
        }
    }

    #[test]
    fn bad_queries_are_refused() {
        for query in [
            "$top=-1",
            "$skip=x",
            "$filter=Rank gt 1",
            "$filter=Rank eq",
            "$filter=Rank eq 'x",
            "$filter=Rank eq 1 or Rank eq 2",
            "$select=Nope",
            "$filter=Nope eq 1",
            "$select=a,,b",
        ] {
            assert_eq!(
                list(query).expect_err(query).status,
                StatusCode::BAD_REQUEST,
                "{query}"
            );
        }
        assert_eq!(
            list("$orderby=Rank").expect_err("orderby").status,
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(list("custom=1").map(|a| codes(&a).len()), Ok(2));
        let missing = sets()
            .list("http://x/", "Nope", &Query::default())
            .expect_err("unknown set");
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn create_update_delete() {
        let mut sets = sets();
        let (id, created) = sets
            .create("http://x/", "Parties", json!({"PartyCode": "0003"}))
            .expect("created");
        assert!(is_guid(&id));
        assert_eq!(
            created["@odata.context"],
            "http://x/$metadata#Parties/$entity"
        );
        sets.update("Parties", &id, json!({"PartyCode": "0004"}))
            .expect("updated");
        assert_eq!(
            sets.get("http://x/", "Parties", &id).expect("found")["PartyCode"],
            "0004"
        );
        assert_eq!(
            sets.update("Parties", &id, json!({"Id": new_guid()}))
                .expect_err("id")
                .status,
            StatusCode::BAD_REQUEST
        );
        let duplicate = json!({"Id": id.clone()});
        assert_eq!(
            sets.create("http://x/", "Parties", duplicate)
                .expect_err("dup")
                .status,
            StatusCode::CONFLICT
        );
        sets.delete("Parties", &id).expect("deleted");
        assert_eq!(
            sets.delete("Parties", &id).expect_err("gone").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(sets.records("Parties").map(<[Record]>::len), Some(2));
    }
}
