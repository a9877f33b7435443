/// The self-contained HTML shell shared by `report.html` and `compare.html`: inline CSS and JS, no
/// external resource of any kind (works offline, from a CI artifact, from `file://`).
enum HTMLPage {
    static func wrap(title: String, body: String) -> String {
        // Built with one reservation: the body (a report's sample table can be megabytes) is
        // copied once, not each time an interpolation outgrows its buffer.
        var page = ""
        page.reserveCapacity(body.utf8.count + css.utf8.count + script.utf8.count + 1_024)
        page += """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
            <title>
            """
        page += ReportText.html(title)
        page += "</title>\n<style>"
        page += css
        page += "</style>\n</head>\n<body>\n"
        page += body
        page += "\n<script>"
        page += script
        page += "</script>\n</body>\n</html>\n"
        return page
    }

    static let css = """
        :root{--pass:#1a7f37;--fail:#cf222e;--unm:#9a6700;--err:#8250df;--bg:#fff;--fg:#1f2328;--mut:#656d76;--line:#d0d7de}
        body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1400px;padding:16px 24px}
        h1{font-size:22px;margin:0 8px 0 0;display:inline-block}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
        .badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;vertical-align:middle}
        .badge.pass{background:var(--pass);color:#fff}.badge.fail{background:var(--fail);color:#fff}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:120px}
        .card b{display:block;font-size:18px}.card span{color:var(--mut);font-size:12px}
        table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#f6f8fa;position:sticky;top:0}th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:" ⇅";color:var(--mut)}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .pass{color:var(--pass)}.fail{color:var(--fail)}.unmeasured{color:var(--unm)}.error{color:var(--err)}
        td.cell.pass{background:#dafbe1}td.cell.fail{background:#ffebe9}td.cell.unmeasured{background:#fff8c5}
        .controls{display:flex;gap:8px;align-items:center;margin:8px 0}.controls input{flex:1;max-width:420px;padding:4px 8px}
        details summary{cursor:pointer;color:#0969da}.msg{margin:6px 0;padding:6px 8px;border-radius:6px;background:#f6f8fa}
        .msg.user{background:#ddf4ff}.msg.assistant{background:#f6f8fa}.msg.system{background:#fff8c5}
        .msg.tool{background:#f3f0ff}.msg.tool-error{background:#ffebe9}.msg.contexts{background:#eefbf1}.msg.expected{background:#fbf7ee}
        .call{margin:4px 0 0 12px}.call pre{margin:0}.msg ol{margin:4px 0;padding-left:22px}
        .msg pre,.evals pre{white-space:pre-wrap;word-break:break-word;margin:2px 0 0;font:12px/1.4 ui-monospace,Menlo,monospace}
        .evals{margin:6px 0;padding-left:18px}.note{color:var(--mut);font-size:12px}svg{vertical-align:middle}
        """

    static let script = """
        (function(){
          var table=document.getElementById('sample-table');
          if(table){
            var filter=document.getElementById('filter'),status=document.getElementById('outcome'),shown=document.getElementById('shown');
            var rows=Array.prototype.slice.call(table.tBodies[0].rows);
            function apply(){var q=(filter.value||'').toLowerCase(),s=status.value,n=0;
              rows.forEach(function(r){var ok=(!s||r.getAttribute('data-outcome')===s)&&(!q||r.getAttribute('data-search').indexOf(q)>=0||r.textContent.toLowerCase().indexOf(q)>=0);
                r.style.display=ok?'':'none';if(ok)n++;});
              var total=parseInt(table.getAttribute('data-total')||'0',10);
              shown.textContent=n+' of '+rows.length+' shown'+(total>rows.length?' ('+total+' samples in all; every one is in results.csv)':'');}
            filter.addEventListener('input',apply);status.addEventListener('change',apply);apply();
          }
          Array.prototype.forEach.call(document.querySelectorAll('th[data-sort]'),function(th){
            th.addEventListener('click',function(){
              var tbl=th.closest('table'),body=tbl.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);
              var num=th.getAttribute('data-sort')==='num',dir=th.getAttribute('data-dir')==='asc'?-1:1;th.setAttribute('data-dir',dir===1?'asc':'desc');
              var list=Array.prototype.slice.call(body.rows);
              list.sort(function(a,b){var x=a.cells[i],y=b.cells[i];
                var u=x.hasAttribute('data-v')?x.getAttribute('data-v'):x.textContent,v=y.hasAttribute('data-v')?y.getAttribute('data-v'):y.textContent;
                if(num){u=u===''?-1:parseFloat(u);v=v===''?-1:parseFloat(v);return (u-v)*dir;}return u.localeCompare(v)*dir;});
              list.forEach(function(r){body.appendChild(r);});
            });
          });
        })();
        """
}
