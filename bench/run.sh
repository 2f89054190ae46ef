#!/usr/bin/env bash
# Processing and upload benchmarks against the sharp reference (`make bench`,
# never part of `make test`). Prints, on one thread (one image at a time, one
# libvips thread, on each side):
#   1. images/s and CPU s/image of `ximagepipeline process` and of the sharp
#      reference, alternating, ROUNDS rounds per preset and image, the median
#      ratios, for the benchmark photo and the other IMAGES (below);
#   2. peak RSS of one `process` run per preset and of 20 images in a row, and of a 100-megapixel JPEG;
#   3. per image and preset, each variant's bytes, SSIM and butteraugli, ours
#      and sharp's, against a reference resize of the oriented source
#      (bench/ssim), and the total variant bytes;
#   4. the upload path under load (hey against `serve --workers=false`),
#      LOAD_ROUNDS rounds of two runs: capacity (LOAD_CONCURRENCY clients as
#      fast as answered) and target load (LOAD_RATE uploads/s offered):
#      uploads/s, p50, p99, medians, server RSS;
#   5. the time from 202 to COMPLETE for an avatar (median of 10);
#   6. a worker's throughput: jobs/s of `ximagepipeline worker` at
#      concurrency 1 and 2 against the sharp reference running as many
#      images at once, alternating, and the worker's RSS (bench/worker).
# The images come from ../shared/testdata/images (the benchmark photo,
# Portrait_6.jpg with EXIF orientation 6, with-alpha.png) and from
# bench/mkimages, which makes larger ones from the photo (a 1669x2225 phone
# portrait stored with orientation 6, a 1600 px PNG with alpha); the sharp
# reference comes from ../shared/bench/sharp-reference. Without ../shared the
# processing parts say so and are skipped.
# Environment: SHARED (../shared), ROUNDS (5), PRESETS ("avatar gallery hero"), PHOTO, IMAGES
# (space-separated paths; default the five above), REPEAT_<preset> (for the
# photo; smaller images repeat more), LOAD_SECONDS (10), LOAD_CONCURRENCY
# (50), LOAD_RATE (1000), LOAD_ROUNDS (3), WORKER_JOBS (hero jobs per worker
# run, 24), WORKER_ROUNDS (3), SKIP_UPLOAD=1, SKIP_BIG=1, SKIP_WORKER=1,
# SKIP_SPEED=1, SKIP_QUALITY=1. BIN: the binary to measure (default
# bin/ximagepipeline, built here; `make bench-fast` passes the one built
# against the prebuilt libvips).
# Everything it makes goes to bench/out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
BIN_GIVEN=${BIN:+1}
BIN=${BIN:-$ROOT/bin/ximagepipeline}
ROUNDS=${ROUNDS:-5}
PRESETS=${PRESETS:-avatar gallery hero}
SHARED=${SHARED:-$ROOT/../shared}
PHOTO=${PHOTO:-$SHARED/testdata/images/2569067123_aca715a2ee_o.jpg}
SHARP_SRC=$SHARED/bench/sharp-reference
SHARP=$OUT/sharp-reference
LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_CONCURRENCY=${LOAD_CONCURRENCY:-50}
LOAD_RATE=${LOAD_RATE:-1000}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
WORKER_JOBS=${WORKER_JOBS:-24}
WORKER_ROUNDS=${WORKER_ROUNDS:-3}
declare -A REPEAT=([avatar]=${REPEAT_avatar:-40} [gallery]=${REPEAT_gallery:-8} [hero]=${REPEAT_hero:-5}
	[member_photo]=${REPEAT_member_photo:-8} [content]=${REPEAT_content:-8})
mkdir -p "$OUT/bin"

log() { printf '\n== %s\n' "$*"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}'; }
jsonfield() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | tail -1; }

HAVE_SHARED=1
if [ ! -f "$PHOTO" ] || [ ! -f "$SHARP_SRC/process.mjs" ]; then
	HAVE_SHARED=
	log "no ../shared/testdata/images or ../shared/bench/sharp-reference next to the repository:"
	echo "the processing benchmarks against sharp (speed, memory, quality, worker) are skipped"
fi
PHOTO=$(realpath "$PHOTO" 2>/dev/null || echo "$PHOTO")

# --- tools -----------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
	log "installing GNU time"
	apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
fi
command -v vips >/dev/null || { log "installing libvips-tools (vips CLI)"; apt-get install -y -qq libvips-tools >/dev/null; }
if ! command -v butteraugli_main >/dev/null; then
	log "installing libjxl-devtools (butteraugli_main, the second quality metric)"
	apt-get install -y -qq libjxl-devtools >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libjxl-devtools >/dev/null; } ||
		echo "libjxl-devtools could not be installed: no butteraugli scores"
fi
BA_FLAG=; command -v butteraugli_main >/dev/null && BA_FLAG=-butteraugli
if [ -n "$HAVE_SHARED" ]; then
	command -v node >/dev/null || { echo "node is needed for the sharp reference" >&2; exit 1; }
	if [ ! -d "$SHARP/node_modules/sharp" ]; then
		log "installing the sharp reference in $SHARP (a copy: ../shared is read-only)"
		rm -rf "$SHARP" && mkdir -p "$SHARP"
		cp "$SHARP_SRC"/package.json "$SHARP_SRC"/process.mjs "$SHARP/"
		[ ! -f "$SHARP_SRC/package-lock.json" ] || cp "$SHARP_SRC/package-lock.json" "$SHARP/"
		chmod -R u+w "$SHARP"
		(cd "$SHARP" && npm install --no-audit --no-fund --loglevel=error)
	fi
	cmp -s "$SHARP_SRC/process.mjs" "$SHARP/process.mjs" || cp "$SHARP_SRC/process.mjs" "$SHARP/process.mjs"
fi
if [ ! -x "$OUT/bin/hey" ]; then
	log "installing hey"
	GOBIN=$OUT/bin go install github.com/rakyll/hey@v0.1.5
fi
[ -n "$BIN_GIVEN" ] || go build -o "$BIN" ./cmd/ximagepipeline
for tool in ssim latency worker mkimages; do go build -o "$OUT/bin/$tool" "./bench/$tool"; done

# The images: the photo, the real-world portrait and alpha PNG, and the two
# larger ones made from the photo.
if [ -z "${IMAGES:-}" ] && [ -n "$HAVE_SHARED" ]; then
	[ -f "$OUT/images/alpha-1600.png" ] || "$OUT/bin/mkimages" -out "$OUT/images" "$PHOTO"
	IMAGES="$PHOTO $(realpath "$SHARED/testdata/images/Portrait_6.jpg") $OUT/images/portrait-exif6.jpg $(realpath "$SHARED/testdata/images/with-alpha.png") $OUT/images/alpha-1600.png"
fi
# repeat N: images per timed run, more for smaller images (the photo's
# REPEAT_<preset> scaled by its megapixels over the image's, up to 10x).
repeat() {
	local px
	px=$(vipsheader -f width "$2")*$(vipsheader -f height "$2")
	awk -v n="${REPEAT[$1]:-8}" -v px="$((px))" 'BEGIN {f = 6063125 / px; if (f < 1) f = 1; if (f > 10) f = 10; printf "%d", n * f}'
}

# --- machine -----------------------------------------------------------------
log "machine"
echo "date:       $(date -u +%FT%TZ)"
echo "cpu:        $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "memory:     $(free -m | awk '/Mem:/ {print $2 " MB"}')"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
libs=$(ldd "$BIN" | awk '/libvips/ {print $3}')
case $libs in
*libvips-cpp*) echo "ours:       the prebuilt libvips ($libs: $(sed -n 's/.*"vips": "\([^"]*\)".*/libvips \1/p; s/.*"webp": "\([^"]*\)".*/libwebp \1/p' "$(dirname "$libs")/../versions.json" | paste -sd, -)), $(go version | cut -d' ' -f3)" ;;
*) echo "ours:       libvips $(pkg-config --modversion vips), libwebp $(pkg-config --modversion libwebp), libjpeg-turbo $(dpkg-query -W -f='${Version}' libjpeg62-turbo 2>/dev/null || echo '?'), $(go version | cut -d' ' -f3)" ;;
esac
[ -z "$HAVE_SHARED" ] || echo "sharp:      $(cd "$SHARP" && node --input-type=module -e "import s from 'sharp'; const v=s.versions; console.log('sharp '+v.sharp+', libvips '+v.vips+', libwebp '+v.webp+', mozjpeg '+v.mozjpeg+', node '+process.version)")"

summary=()
if [ -n "$HAVE_SHARED" ]; then
# --- 1. speed ----------------------------------------------------------------
if [ -z "${SKIP_SPEED:-}" ]; then
log "speed: --threads 1, $ROUNDS rounds alternating (images/s by wall clock as each tool reports it; CPU s/image from user+sys)"
# CPU seconds per image: ours over n+1 images (process warms up on one
# image outside its timing), sharp's after node's and sharp's start-up.
/usr/bin/time -f '%U %S' -o "$OUT/time.node" sh -c "cd '$SHARP' && node --input-type=module -e \"import 'sharp'; import 'blurhash'\""
NODE_START=$(awk '{print $1+$2}' "$OUT/time.node")
echo "node + sharp start-up: $NODE_START s CPU (subtracted from sharp's CPU time)"
printf '%-8s %-22s %5s %5s %9s %9s %7s %12s %12s %7s\n' preset image n round ours sharp ratio "ours cpu/im" "sharp cpu/im" "cpu x"
for img in $IMAGES; do
	name=$(basename "$img")
	for preset in $PRESETS; do
		n=$(repeat "$preset" "$img")
		ratios=() cpuratios=() ours_all=() sharp_all=()
		for r in $(seq 1 "$ROUNDS"); do
			run_ours() { /usr/bin/time -f '%U %S' -o "$OUT/time.ours" "$BIN" process --source-type "$preset" --threads 1 --repeat "$n" "$img" >"$OUT/ours.json"; }
			run_sharp() { (cd "$SHARP" && /usr/bin/time -f '%U %S' -o "$OUT/time.sharp" node process.mjs --preset "$preset" --threads 1 --repeat "$n" "$img" >"$OUT/sharp.json"); }
			if (( r % 2 )); then run_ours; run_sharp; else run_sharp; run_ours; fi
			o=$(jsonfield imagesPerSecond <"$OUT/ours.json")
			s=$(jsonfield imagesPerSecond <"$OUT/sharp.json")
			oc=$(awk -v n="$n" '{printf "%.4f", ($1+$2)/(n+1)}' "$OUT/time.ours")
			sc=$(awk -v n="$n" -v b="$NODE_START" '{printf "%.4f", ($1+$2-b)/n}' "$OUT/time.sharp")
			ratio=$(awk -v o="$o" -v s="$s" 'BEGIN {printf "%.2f", o/s}')
			cratio=$(awk -v o="$oc" -v s="$sc" 'BEGIN {printf "%.2f", s/o}')
			ratios+=("$ratio") cpuratios+=("$cratio") ours_all+=("$o") sharp_all+=("$s")
			printf '%-8s %-22.22s %5s %5s %9s %9s %7s %12s %12s %7s\n' "$preset" "$name" "$n" "$r" "$o" "$s" "$ratio" "$oc" "$sc" "$cratio"
		done
		mo=$(printf '%s\n' "${ours_all[@]}" | median)
		ms=$(printf '%s\n' "${sharp_all[@]}" | median)
		mr=$(printf '%s\n' "${ratios[@]}" | median)
		mc=$(printf '%s\n' "${cpuratios[@]}" | median)
		printf '%-8s %-22.22s %5s %5s %9s %9s %7s %12s %12s %7s\n' "$preset" "$name" "$n" median "$mo" "$ms" "$mr" "" "" "$mc"
		summary+=("$(printf '%-8s %-22.22s ours %8s img/s  sharp %8s img/s  ratio %5sx  CPU-time ratio %5sx' "$preset" "$name" "$mo" "$ms" "$mr" "$mc")")
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

# --- 2. memory -----------------------------------------------------------------
log "peak RSS, one thread: one process run of the photo, and 20 in a row (a worker's steady state)"
peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }
# One run (the photo twice: warm-up, then timed), then a worker's steady
# state: 20 images one after another.
for preset in $PRESETS; do
	o=$(peak "$BIN" process --source-type "$preset" --threads 1 "$PHOTO")
	s=$(cd "$SHARP" && peak node process.mjs --preset "$preset" --threads 1 "$PHOTO")
	o20=$(peak "$BIN" process --source-type "$preset" --threads 1 --repeat 20 "$PHOTO")
	s20=$(cd "$SHARP" && peak node process.mjs --preset "$preset" --threads 1 --repeat 20 "$PHOTO")
	printf '%-8s one image: ours %4d MB, sharp %4d MB   20 images: ours %4d MB, sharp %4d MB\n' "$preset" \
		$((o / 1024)) $((s / 1024)) $((o20 / 1024)) $((s20 / 1024))
done
if [ -z "${SKIP_BIG:-}" ]; then
	BIG=$OUT/big-10000x10000.jpg
	if [ ! -f "$BIG" ]; then
		# The photo upscaled to the largest allowed pixel count (100 MP), so
		# that it compresses like a photo.
		vips thumbnail "$PHOTO" "$BIG[Q=85]" 10000 --height 10000 --size force
	fi
	big_mb=$(( $(stat -c %s "$BIG") / 1048576 ))
	for preset in avatar gallery hero; do
		o=$(peak "$BIN" process --source-type "$preset" --threads 1 "$BIG")
		printf '100 MP JPEG (%d MB), %-8s ours peak RSS %4d MB\n' "$big_mb" "$preset" $((o / 1024))
	done
fi

# --- 3. quality ----------------------------------------------------------------
if [ -z "${SKIP_QUALITY:-}" ]; then
log "quality: bytes, SSIM (luma) and butteraugli (3-norm, lower is better) against a lanczos3 resize of the full oriented source"
Q=$OUT/quality
rm -rf "$Q" && mkdir -p "$Q" # long before the upload runs (see below)
printf '%-8s %-22s %-8s %11s %11s %7s %8s %8s %7s %7s\n' preset image variant "ours bytes" "sharp bytes" "bytes" "ours ssim" "sharp" "ours ba" "sharp"
for img in $IMAGES; do
	name=$(basename "$img")
	vips autorot "$img" "$Q/source-$name.v"
	for preset in $PRESETS; do
		"$BIN" process --source-type "$preset" --out "$Q/ours-$preset" "$img" >/dev/null
		(cd "$SHARP" && node process.mjs --preset "$preset" --out "$Q/sharp-$preset" "$img" >/dev/null)
		od=$Q/ours-$preset/$name sd=$Q/sharp-$preset/$name
		mkdir -p "$Q/tmp-$name"
		ot=0 st=0 worse=
		for f in "$od"/*.webp; do
			v=$(basename "$f" .webp)
			s=$sd/$v.webp
			[ -f "$s" ] || continue
			oj=$("$OUT/bin/ssim" $BA_FLAG -src "$Q/source-$name.v" -tmp "$Q/tmp-$name" "$f")
			sj=$("$OUT/bin/ssim" $BA_FLAG -src "$Q/source-$name.v" -tmp "$Q/tmp-$name" "$s")
			ob=$(jsonfield bytes <<<"$oj") os=$(jsonfield ssim <<<"$oj") oba=$(jsonfield butteraugli <<<"$oj")
			sb=$(jsonfield bytes <<<"$sj") ss=$(jsonfield ssim <<<"$sj") sba=$(jsonfield butteraugli <<<"$sj")
			ot=$((ot + ob)) st=$((st + sb))
			printf '%-8s %-22.22s %-8s %11s %11s %+6.1f%% %8s %8s %7s %7s\n' "$preset" "$name" "$v" "$ob" "$sb" \
				"$(awk -v o="$ob" -v s="$sb" 'BEGIN {print (o/s-1)*100}')" "$os" "$ss" "${oba:--}" "${sba:--}"
		done
		printf '%-8s %-22.22s %-8s %11s %11s %+6.1f%%\n' "$preset" "$name" "total" "$ot" "$st" "$(awk -v o="$ot" -v s="$st" 'BEGIN {print (o/s-1)*100}')"
		summary+=("$(printf '%-8s %-22.22s variant bytes ours %8d sharp %8d (%+.1f%%)' "$preset" "$name" "$ot" "$st" "$(awk -v o="$ot" -v s="$st" 'BEGIN {print (o/s-1)*100}')")")
	done
done
echo "(bytes are the WebP variants only: the original is compared in docs/performance.md; our original is the"
echo " source's own bytes with metadata cut out when no rotation or colour conversion is needed, sharp's a re-encode)"
echo "(xs and sm are cover crops: ours are centred on the image's focal point, sharp's and the"
echo " reference on the middle, so when the focal point is off-centre their scores compare other"
echo " regions and mean nothing; compare their bytes only)"
fi
fi

# --- 4 and 5. upload path ------------------------------------------------------------
if [ -z "${SKIP_UPLOAD:-}" ] && [ -n "$HAVE_SHARED" ]; then
	LEFT=()
	SMALL=$OUT/upload-100k.jpg
	[ -f "$SMALL" ] || vips thumbnail "$PHOTO" "$SMALL[Q=85,strip]" 800 # about 100 KB
	BODY=$OUT/upload-body.bin BOUNDARY=benchboundary7MA4YWxkTrZu0gW
	{
		printf -- '--%s\r\nContent-Disposition: form-data; name="sourceType"\r\n\r\navatar\r\n' "$BOUNDARY"
		printf -- '--%s\r\nContent-Disposition: form-data; name="sourceId"\r\n\r\nbench-user\r\n' "$BOUNDARY"
		printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' "$BOUNDARY"
		cat "$SMALL"
		printf -- '\r\n--%s--\r\n' "$BOUNDARY"
	} >"$BODY"
	port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
	wait_ready() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done; echo "server did not start" >&2; exit 1; }
	rss() { awk '/^'"$2"':/ {print int($2/1024)}' "/proc/$1/status"; }

	log "upload path: $(( $(stat -c %s "$SMALL") / 1024 )) KB JPEG, serve --workers=false, SQLite + local storage, $LOAD_ROUNDS rounds of hey -z ${LOAD_SECONDS}s"
	log "  capacity: -c $LOAD_CONCURRENCY as fast as it answers; target load: -c $LOAD_CONCURRENCY -q $((LOAD_RATE / LOAD_CONCURRENCY)) (${LOAD_RATE}/s offered)"
	DATA=$(mktemp -d "$OUT/serve-XXXX") PORT=$(port)
	"$BIN" serve --workers=false --data-dir "$DATA" --addr "127.0.0.1:$PORT" --log-level error &
	SERVER=$!
	trap 'kill $SERVER 2>/dev/null || true' EXIT
	wait_ready "$PORT"
	URL=http://127.0.0.1:$PORT/image-pipeline/upload
	load() { "$OUT/bin/hey" -z "${LOAD_SECONDS}s" -c "$LOAD_CONCURRENCY" "$@" -m POST -T "multipart/form-data; boundary=$BOUNDARY" -D "$BODY" "$URL"; }
	heyfield() { case $1 in rps) awk '/Requests\/sec/ {printf "%.0f", $2}' ;; *) awk -v q=" $1%+ in" '$0 ~ q {printf "%.1f", $3*1000}' ;; esac; }
	"$OUT/bin/hey" -n 200 -c 10 -m POST -T "multipart/form-data; boundary=$BOUNDARY" -D "$BODY" "$URL" >/dev/null # warm-up
	: >"$OUT/upload-rounds"
	printf '%-6s %-10s %10s %8s %8s %s\n' round load uploads/s p50_ms p99_ms statuses
	for r in $(seq "$LOAD_ROUNDS"); do
		for kind in capacity target; do
			if [ $kind = capacity ]; then load >"$OUT/hey.txt"; else load -q $((LOAD_RATE / LOAD_CONCURRENCY)) >"$OUT/hey.txt"; fi
			line="$(heyfield rps <"$OUT/hey.txt") $(heyfield 50 <"$OUT/hey.txt") $(heyfield 99 <"$OUT/hey.txt")"
			echo "$kind $line" >>"$OUT/upload-rounds"
			printf '%-6s %-10s %10s %8s %8s %s\n' "$r" $kind $line "$(sed -n '/Status code distribution/,/^$/p' "$OUT/hey.txt" | tail -n +2 | tr -s ' ' | paste -sd' ')"
		done
	done
	for kind in capacity target; do
		printf '%-17s %10s %8s %8s   (medians)\n' $kind \
			"$(awk -v k=$kind '$1 == k {print $2}' "$OUT/upload-rounds" | median)" \
			"$(awk -v k=$kind '$1 == k {print $3}' "$OUT/upload-rounds" | median)" \
			"$(awk -v k=$kind '$1 == k {print $4}' "$OUT/upload-rounds" | median)"
	done
	echo "server RSS: $(rss $SERVER VmRSS) MB now, $(rss $SERVER VmHWM) MB peak"
	echo "load:       $(cut -d' ' -f1-3 /proc/loadavg)"
	kill $SERVER; wait $SERVER 2>/dev/null || true
	LEFT+=("$DATA") # deleted at the end: on this disk, creating files right after
	# thousands were deleted is twice as slow, which would skew the next measurement

	log "202 to COMPLETE for an avatar and a hero of the photo (serve with workers, one upload at a time, median of 10)"
	DATA=$(mktemp -d "$OUT/serve-XXXX") PORT=$(port)
	"$BIN" serve --data-dir "$DATA" --addr "127.0.0.1:$PORT" --log-level error &
	SERVER=$!
	wait_ready "$PORT"
	for type in avatar hero; do
		"$OUT/bin/latency" -url "http://127.0.0.1:$PORT/image-pipeline" -type $type -n 10 "$PHOTO" >"$OUT/latency.json"
		echo "$type 202 to COMPLETE: $(tail -1 "$OUT/latency.json")"
		summary+=("$type 202 to COMPLETE: median $(jsonfield medianMs <"$OUT/latency.json") ms (min $(jsonfield minMs <"$OUT/latency.json"), max $(jsonfield maxMs <"$OUT/latency.json"))")
	done
	echo "worker RSS: $(rss $SERVER VmHWM) MB peak"
	kill $SERVER; wait $SERVER 2>/dev/null || true
	trap - EXIT
	LEFT+=("$DATA")
	rm -rf "${LEFT[@]}"
fi

# --- 6. worker throughput -------------------------------------------------------
if [ -n "$HAVE_SHARED" ] && [ -z "${SKIP_WORKER:-}" ]; then
	log "worker: $WORKER_JOBS hero jobs of the photo queued, then \`worker --concurrency C\` until all are COMPLETE (SQLite, local storage),"
	log "  against C sharp reference processes sharing the images (sharp's default threads); $WORKER_ROUNDS rounds alternating"
	printf '%-3s %5s %9s %9s %7s %11s %11s %9s %9s\n' c round "ours j/s" "sharp j/s" ratio "ours cpu/j" "sharp cpu/j" "ours RSS" "sharp RSS"
	for c in 1 2; do
		ratios=() ours_all=() sharp_all=() rss_all=()
		for r in $(seq 1 "$WORKER_ROUNDS"); do
			run_ours() { "$OUT/bin/worker" -bin "$BIN" -tmp "$OUT" -type hero -n "$WORKER_JOBS" -concurrency "$c" "$PHOTO" >"$OUT/worker-ours.json"; }
			run_sharp() { "$OUT/bin/worker" -sharp "$SHARP" -type hero -n "$WORKER_JOBS" -concurrency "$c" "$PHOTO" >"$OUT/worker-sharp.json"; }
			if (( r % 2 )); then run_ours; run_sharp; else run_sharp; run_ours; fi
			o=$(jsonfield jobsPerSecond <"$OUT/worker-ours.json") s=$(jsonfield jobsPerSecond <"$OUT/worker-sharp.json")
			ratio=$(awk -v o="$o" -v s="$s" 'BEGIN {printf "%.2f", o/s}')
			ratios+=("$ratio") ours_all+=("$o") sharp_all+=("$s") rss_all+=("$(jsonfield peakRssMB <"$OUT/worker-ours.json")")
			printf '%-3s %5s %9s %9s %7s %11s %11s %6s MB %6s MB\n' "$c" "$r" "$o" "$s" "$ratio" \
				"$(jsonfield cpuPerJob <"$OUT/worker-ours.json")" "$(jsonfield cpuPerJob <"$OUT/worker-sharp.json")" \
				"$(jsonfield peakRssMB <"$OUT/worker-ours.json")" "$(jsonfield peakRssMB <"$OUT/worker-sharp.json")"
		done
		mo=$(printf '%s\n' "${ours_all[@]}" | median) ms=$(printf '%s\n' "${sharp_all[@]}" | median)
		mr=$(printf '%s\n' "${ratios[@]}" | median) mm=$(printf '%s\n' "${rss_all[@]}" | median)
		printf '%-3s %5s %9s %9s %7s\n' "$c" median "$mo" "$ms" "$mr"
		summary+=("$(printf 'worker c=%s hero: ours %6s jobs/s  sharp %6s jobs/s  ratio %5sx  ours peak RSS %s MB (median of %s rounds)' "$c" "$mo" "$ms" "$mr" "$mm" "$WORKER_ROUNDS")")
	done
fi

log "summary (ratios are ours/sharp images per second in the same run)"
printf '%s\n' "${summary[@]}"
