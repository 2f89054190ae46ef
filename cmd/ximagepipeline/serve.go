package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/access"
	"github.com/ximagepipeline/ximagepipeline/web"
)

func serveCommand() *cobra.Command {
	var (
		o       options
		a       accessOptions
		workers bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API, with workers in-process (zero config: SQLite and ./data)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd.Flags()); err != nil {
				return err
			}
			if err := o.check(a.dependents()...); err != nil {
				return err
			}
			guard, err := a.config()
			if err != nil {
				return err
			}
			cfg, err := o.pipelineConfig(cmd.Context())
			if err != nil {
				return err
			}
			cfg.DisableWorkers = !workers
			return serve(cmd.Context(), o.addr, o.shutdownGrace, cfg, guard, o.moderationState())
		},
	}
	o.addFlags(cmd.Flags(), true)
	a.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&workers, "workers", ximagepipeline.BuiltWithProcessing, "run workers in this process (--workers=false: API only; a build without cgo has no workers)")
	return cmd
}

func serve(ctx context.Context, addr string, grace time.Duration, cfg ximagepipeline.Config, guard access.Config, mod moderationState) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := ximagepipeline.New(ctx, cfg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api := p.Handler()
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = ximagepipeline.DefaultPrefix
	}
	mux.Handle(prefix+"/", api)
	mux.Handle("/", web.Handler(prefix)) // the dashboard
	mux.Handle("GET /metrics", p.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		body, code := readiness{Status: "ready", Workers: !cfg.DisableWorkers, Moderation: mod}, http.StatusOK
		if err := p.Ready(r.Context()); err != nil {
			body.Status, body.Error, code = "unavailable", err.Error(), http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.Close(context.Background())
		return err
	}
	srv := &http.Server{
		Handler:           guard.Wrap(prefix, mux),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// Long polls and event streams answer at once when the stop begins;
	// every other request (an upload above all) runs to its end.
	srv.RegisterOnShutdown(p.EndWaits)
	mod.log(cfg.Logger)
	cfg.Logger.Info("serving", "addr", ln.Addr().String(), "prefix", prefix, "workers", !cfg.DisableWorkers)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down: finishing requests and running jobs", "grace", grace.String())
	// One deadline for the whole stop, so that the process ends within the
	// grace (plus the hand-back) however long the requests take: uploads in
	// flight finish first while the workers go on, then the workers stop
	// taking jobs and what still runs at the deadline is handed back.
	stopCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = errors.Join(ignoreClosed(err), srv.Shutdown(stopCtx))
	return errors.Join(err, p.Close(stopCtx))
}

// readiness is the body of /readyz: whether the database and the storage
// answer, and how this server runs (workers in-process, moderation).
type readiness struct {
	Status     string          `json:"status"`          // "ready" (200) or "unavailable" (503)
	Error      string          `json:"error,omitempty"` // what did not answer
	Workers    bool            `json:"workers"`         // whether jobs run in this process
	Moderation moderationState `json:"moderation"`
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func workerCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run workers only, sharing the database and storage of the API servers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd.Flags()); err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, err := o.pipelineConfig(ctx)
			if err != nil {
				return err
			}
			p, err := ximagepipeline.New(ctx, cfg)
			if err != nil {
				return err
			}
			o.moderationState().log(cfg.Logger)
			cfg.Logger.Info("worker started", "concurrency", cfg.Concurrency)
			<-ctx.Done()
			// Stop taking jobs; running ones get the grace to finish, then
			// are cancelled and handed back to the queue.
			cfg.Logger.Info("worker stopping: finishing running jobs", "grace", o.shutdownGrace.String())
			stopCtx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
			defer cancel()
			if err := p.Close(stopCtx); err != nil {
				return err
			}
			cfg.Logger.Info("worker stopped")
			return nil
		},
	}
	o.addFlags(cmd.Flags(), false)
	return cmd
}

func migrateCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd.Flags()); err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			cfg, err := o.pipelineConfig(cmd.Context())
			if err != nil {
				return err
			}
			cfg.DisableWorkers = true
			p, err := ximagepipeline.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			cfg.Logger.Info("migrations applied")
			return p.Close(context.Background())
		},
	}
	o.addFlags(cmd.Flags(), false)
	return cmd
}
