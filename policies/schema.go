package policies

import (
	"reflect"
	"strings"
)

// knownKeysHint returns " (want one of: a, b, c)" listing the keys of the
// schema struct the decoder names as typeName ("policies.Limits"), or ""
// when it is not one of ours.
func knownKeysHint(typeName string) string {
	t := findStruct(reflect.TypeFor[Config](), typeName, 0)
	if t == nil {
		return ""
	}
	var keys []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return " (want one of: " + strings.Join(keys, ", ") + ")"
}

// findStruct finds the struct type named name among t and the types it
// holds.
func findStruct(t reflect.Type, name string, depth int) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 4 {
		return nil
	}
	if t.String() == name {
		return t
	}
	for i := range t.NumField() {
		if found := findStruct(t.Field(i).Type, name, depth+1); found != nil {
			return found
		}
	}
	return nil
}
