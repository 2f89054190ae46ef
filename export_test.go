package ximagepipeline

// RoutePatterns lists Handler's routes as "METHOD /path" after the prefix,
// from the table that registers them, for the OpenAPI test.
func RoutePatterns() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}
