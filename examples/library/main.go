// Command library shows ximagepipeline mounted in a host application's own
// server: the host keeps its router, its authentication and its CORS, and
// wraps the pipeline's handler like any other.
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/ximagepipeline/ximagepipeline"
)

func main() {
	ctx := context.Background()
	p, err := ximagepipeline.New(ctx, ximagepipeline.Config{DataDir: "./data"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)

	mux := http.NewServeMux()
	mux.Handle("/image-pipeline/", requireSession(p.Handler()))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("the host app\n")) })
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// requireSession stands for the host's own authentication: here a shared
// token from the environment; in a real app, its session or JWT check.
// Stored files stay public so that pages can embed their URLs.
func requireSession(next http.Handler) http.Handler {
	token := os.Getenv("APP_TOKEN")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/image-pipeline/files/") {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"Unauthorized","code":"UNAUTHORIZED"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
