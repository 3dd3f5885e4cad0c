//! Collection schemas between Milvus's protobuf form and the backup meta's JSON form.

use base64::Engine;
use prost::Message;

use super::meta;
use super::proto::common::KeyValuePair as PbKv;
use super::proto::schema as pb;

pub(crate) fn kv_to_meta(v: &[PbKv]) -> Vec<meta::KeyValuePair> {
    v.iter()
        .map(|p| meta::KeyValuePair {
            key: p.key.clone(),
            value: p.value.clone(),
        })
        .collect()
}

pub(crate) fn kv_to_pb(v: &[meta::KeyValuePair]) -> Vec<PbKv> {
    v.iter()
        .map(|p| PbKv {
            key: p.key.clone(),
            value: p.value.clone(),
        })
        .collect()
}

/// The meta form of a schema described by Milvus: every field property, the functions, the struct array
/// fields and the schema's properties, so that a restore can create the same collection.
pub(crate) fn to_meta(s: &pb::CollectionSchema) -> meta::CollectionSchema {
    #[allow(deprecated)]
    let auto_id = s.auto_id;
    meta::CollectionSchema {
        name: s.name.clone(),
        description: s.description.clone(),
        auto_id,
        enable_dynamic_field: s.enable_dynamic_field,
        fields: s.fields.iter().map(field_to_meta).collect(),
        properties: kv_to_meta(&s.properties),
        functions: s.functions.iter().map(function_to_meta).collect(),
        struct_array_fields: s
            .struct_array_fields
            .iter()
            .map(|f| meta::StructArrayFieldSchema {
                field_id: f.field_id,
                name: f.name.clone(),
                description: f.description.clone(),
                fields: f.fields.iter().map(field_to_meta).collect(),
                type_params: kv_to_meta(&f.type_params),
            })
            .collect(),
    }
}

fn field_to_meta(f: &pb::FieldSchema) -> meta::FieldSchema {
    meta::FieldSchema {
        field_id: f.field_id,
        name: f.name.clone(),
        is_primary_key: f.is_primary_key,
        description: f.description.clone(),
        data_type: meta::DataType(f.data_type),
        type_params: kv_to_meta(&f.type_params),
        index_params: kv_to_meta(&f.index_params),
        auto_id: f.auto_id,
        state: meta::FieldState(f.state),
        element_type: meta::DataType(f.element_type),
        is_dynamic: f.is_dynamic,
        is_partition_key: f.is_partition_key,
        nullable: f.nullable,
        is_function_output: f.is_function_output,
        is_clustering_key: f.is_clustering_key,
        // Go's encoding/json cannot hold the oneof: milvus-backup stores its protobuf bytes in base64.
        default_value_base64: f
            .default_value
            .as_ref()
            .map(|v| base64::engine::general_purpose::STANDARD.encode(v.encode_to_vec()))
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn function_to_meta(f: &pb::FunctionSchema) -> meta::FunctionSchema {
    meta::FunctionSchema {
        name: f.name.clone(),
        id: f.id,
        description: f.description.clone(),
        function_type: meta::FunctionType(f.r#type),
        input_field_names: f.input_field_names.clone(),
        input_field_ids: f.input_field_ids.clone(),
        output_field_names: f.output_field_names.clone(),
        output_field_ids: f.output_field_ids.clone(),
        params: kv_to_meta(&f.params),
    }
}

/// The ids of the fields a dynamic collection got with `AddCollectionField` after it was created: those
/// numbered after the dynamic `$meta` field. CreateCollection numbers fields in order and gives `$meta` the
/// next id, so these must be added afterwards to keep their ids. `$meta` itself is not in DescribeCollection's
/// answer; its id is the one recorded (milvus-backup's `--backup_index_extra`), else the first gap in the
/// other ids, else the next one, as milvus-backup guesses it.
pub(crate) fn added_fields(s: &meta::CollectionSchema) -> Vec<i64> {
    if !s.enable_dynamic_field {
        return Vec::new();
    }
    let mut ids: Vec<i64> =
        s.fields
            .iter()
            .filter(|f| !f.is_dynamic)
            .map(|f| f.field_id)
            .chain(s.struct_array_fields.iter().flat_map(|a| {
                std::iter::once(a.field_id).chain(a.fields.iter().map(|f| f.field_id))
            }))
            .filter(|id| *id >= FIRST_USER_FIELD_ID)
            .collect();
    ids.sort_unstable();
    let meta_id = s
        .fields
        .iter()
        .find(|f| f.is_dynamic)
        .map(|f| f.field_id)
        .or_else(|| ids.windows(2).find(|w| w[1] != w[0] + 1).map(|w| w[0] + 1));
    match meta_id {
        Some(m) => s
            .fields
            .iter()
            .filter(|f| !f.is_dynamic && f.field_id > m)
            .map(|f| f.field_id)
            .collect(),
        None => Vec::new(),
    }
}

/// Milvus numbers user fields from 100; 0 and 1 are the row id and timestamp.
pub(crate) const FIRST_USER_FIELD_ID: i64 = 100;

/// The protobuf schema to create collection `name` from a backed-up schema: same fields and field ids,
/// functions, struct array fields and properties, without the dynamic `$meta` field (which Milvus adds itself)
/// and without the fields in `later` (added with AddCollectionField once the collection exists).
pub(crate) fn to_pb(s: &meta::CollectionSchema, name: &str, later: &[i64]) -> pb::CollectionSchema {
    #[allow(deprecated)]
    pb::CollectionSchema {
        name: name.to_string(),
        description: s.description.clone(),
        auto_id: s.auto_id,
        enable_dynamic_field: s.enable_dynamic_field,
        fields: s
            .fields
            .iter()
            .filter(|f| !f.is_dynamic && !later.contains(&f.field_id))
            .map(field_to_pb)
            .collect(),
        properties: kv_to_pb(&s.properties),
        functions: s.functions.iter().map(function_to_pb).collect(),
        struct_array_fields: s
            .struct_array_fields
            .iter()
            .map(|f| pb::StructArrayFieldSchema {
                field_id: f.field_id,
                name: f.name.clone(),
                description: f.description.clone(),
                fields: f.fields.iter().map(field_to_pb).collect(),
                type_params: kv_to_pb(&f.type_params),
            })
            .collect(),
        ..Default::default()
    }
}

/// One field as CreateCollection and AddCollectionField take it.
pub(crate) fn field_to_pb(f: &meta::FieldSchema) -> pb::FieldSchema {
    pb::FieldSchema {
        field_id: f.field_id,
        name: f.name.clone(),
        is_primary_key: f.is_primary_key,
        description: f.description.clone(),
        data_type: f.data_type.0,
        type_params: kv_to_pb(&f.type_params),
        index_params: kv_to_pb(&f.index_params),
        auto_id: f.auto_id,
        state: 0,
        element_type: f.element_type.0,
        default_value: decode_default(f),
        is_dynamic: false,
        is_partition_key: f.is_partition_key,
        is_clustering_key: f.is_clustering_key,
        nullable: f.nullable,
        is_function_output: f.is_function_output,
    }
}

fn function_to_pb(f: &meta::FunctionSchema) -> pb::FunctionSchema {
    pb::FunctionSchema {
        name: f.name.clone(),
        id: f.id,
        description: f.description.clone(),
        r#type: f.function_type.0,
        input_field_names: f.input_field_names.clone(),
        input_field_ids: f.input_field_ids.clone(),
        output_field_names: f.output_field_names.clone(),
        output_field_ids: f.output_field_ids.clone(),
        params: kv_to_pb(&f.params),
    }
}

fn decode_default(f: &meta::FieldSchema) -> Option<pb::ValueField> {
    if !f.default_value_base64.is_empty() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&f.default_value_base64)
            .ok()?;
        return pb::ValueField::decode(bytes.as_slice()).ok();
    }
    if !f.default_value_proto.is_empty() {
        return pb::ValueField::decode(f.default_value_proto.as_bytes()).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields_and_drops_dynamic() {
        let pbs = pb::CollectionSchema {
            name: "c".into(),
            description: "d".into(),
            enable_dynamic_field: true,
            fields: vec![
                pb::FieldSchema {
                    field_id: 100,
                    name: "id".into(),
                    is_primary_key: true,
                    data_type: 5,
                    ..Default::default()
                },
                pb::FieldSchema {
                    field_id: 101,
                    name: "v".into(),
                    data_type: 101,
                    type_params: vec![PbKv {
                        key: "dim".into(),
                        value: "8".into(),
                    }],
                    default_value: None,
                    ..Default::default()
                },
                pb::FieldSchema {
                    field_id: 102,
                    name: "$meta".into(),
                    is_dynamic: true,
                    data_type: 23,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let m = to_meta(&pbs);
        assert_eq!(m.fields[1].type_params[0].value, "8");
        let back = to_pb(&m, "c_bak", &[]);
        assert_eq!(back.name, "c_bak");
        assert_eq!(back.fields.len(), 2);
        assert_eq!(back.fields[1].field_id, 101);
        assert!(back.enable_dynamic_field);
    }
}
